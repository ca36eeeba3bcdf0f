// copyText puts text on the clipboard, falling back to the selection API
// where the Clipboard API is missing (plain http on a LAN address).
export async function copyText(text, input) {
  if (navigator.clipboard?.writeText && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text)
      return true
    } catch {
      // fall through to the selection fallback
    }
  }
  if (!input) return false
  input.focus()
  input.select()
  try {
    return document.execCommand('copy')
  } catch {
    return false
  }
}
