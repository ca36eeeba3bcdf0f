// A tiny element builder: el('p', {class: 'x'}, 'text', child). Text is
// always set as text, never parsed as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v)
    else if (k === 'text') node.textContent = v
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue
    node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return node
}

// announce reads a short message to screen-reader users.
export function announce(message) {
  const region = document.getElementById('announcer')
  if (!region) return
  region.textContent = ''
  // A fresh text node makes repeated messages announced again.
  window.setTimeout(() => { region.textContent = message }, 50)
}
