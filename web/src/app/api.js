// Calls to tusimg's JSON API (same origin). Every failure becomes an Error
// whose message is the server's own message when it sent one.

export class APIError extends Error {
  constructor(message, { status = 0, code = '', requestId = '' } = {}) {
    super(message)
    this.name = 'APIError'
    this.status = status
    this.code = code
    this.requestId = requestId
  }
}

// parseErrorBody reads tusimg's error JSON ({"error":{"code","message",
// "request_id"}}). It returns null for any other body.
export function parseErrorBody(text) {
  if (typeof text !== 'string' || !text.trim().startsWith('{')) return null
  try {
    const e = JSON.parse(text).error
    if (e && typeof e.message === 'string' && e.message !== '') {
      return { message: e.message, code: String(e.code ?? ''), requestId: String(e.request_id ?? '') }
    }
  } catch {
    // not JSON after all
  }
  return null
}

async function getJSON(url) {
  let res
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
  } catch {
    throw new APIError('The server could not be reached.')
  }
  const text = await res.text()
  if (!res.ok) {
    const e = parseErrorBody(text)
    throw new APIError(e?.message ?? `The server answered ${res.status}.`, { status: res.status, ...e })
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new APIError('The server sent an answer this page cannot read.', { status: res.status })
  }
}

// getConfig returns the upload policy the page mirrors (GET /api/v1/config).
export function getConfig() {
  return getJSON('/api/v1/config')
}

// getImage returns one image record.
export function getImage(sha) {
  return getJSON(`/api/v1/images/${encodeURIComponent(sha)}`)
}

// listImages returns {images, next}: newest first, before the cursor if any.
export function listImages({ limit = 24, before = '' } = {}) {
  const q = new URLSearchParams({ limit: String(limit) })
  if (before) q.set('before', before)
  return getJSON(`/api/v1/images?${q}`)
}

// uploadStatus returns the state of a tus upload session.
export function uploadStatus(id) {
  return getJSON(`/api/v1/uploads/${encodeURIComponent(id)}`)
}

// absoluteURL makes a server-relative URL absolute for copying.
export function absoluteURL(url) {
  return new URL(url, window.location.href).href
}
