// Small formatting helpers for sizes and dimensions.

const units = ['B', 'KB', 'MB', 'GB']

// formatBytes gives a short human size (1024-based, like the Dashboard).
export function formatBytes(n) {
  let v = Number(n) || 0
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const digits = i === 0 || v >= 10 ? 0 : 1
  return `${v.toFixed(digits)} ${units[i]}`
}

// formatDimensions gives "W × H px", with the frame count for animations.
export function formatDimensions(rec) {
  const base = `${rec.width} × ${rec.height} px`
  return rec.frames > 1 ? `${base}, ${rec.frames} frames` : base
}

// typeLabel turns image/png into PNG (and image/webp into WebP).
export function typeLabel(type) {
  const name = String(type ?? '').replace(/^image\//, '')
  return name === 'webp' ? 'WebP' : name.toUpperCase()
}

// listTypes describes allowed types for people: "JPEG, PNG, GIF or WebP".
export function listTypes(types) {
  const names = types.map(typeLabel)
  if (names.length < 2) return names.join('')
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`
}
