// What to tell a person when a tus upload fails. tusimg answers rejections
// with JSON ({"error":{"code","message","request_id"}}); tus-js-client keeps
// that response on the error (originalResponse), and @uppy/tus passes the
// XMLHttpRequest along with its upload-error event.
import { parseErrorBody } from './api.js'

function responseOf(err, response) {
  const r = err?.originalResponse ?? err?.cause?.originalResponse
  if (r) return { status: r.getStatus(), body: r.getBody() }
  const xhr = response?.body?.xhr
  if (xhr && xhr.readyState === 4) return { status: xhr.status, body: xhr.responseText }
  return null
}

// describeUploadError returns {message, code, requestId, status} for a failed
// upload. message is the server's own message whenever the server sent one.
export function describeUploadError(err, response) {
  const res = responseOf(err, response)
  const status = res?.status ?? 0
  const parsed = res ? parseErrorBody(res.body) : null
  if (parsed) return { ...parsed, status }
  if (status === 0 && (err?.isNetworkError || err?.originalRequest)) {
    return { message: 'The connection to the server was lost. Press retry to continue where it stopped.', code: 'network', requestId: '', status }
  }
  if (status === 0) return { message: err?.message || 'The upload failed.', code: 'client', requestId: '', status }
  if (status === 404 || status === 410) {
    return { message: 'The server no longer has this upload. Remove the file and add it again.', code: 'gone', requestId: '', status }
  }
  if (status === 413) return { message: 'The file is too large for this server.', code: 'too_large', requestId: '', status }
  return { message: `The server answered ${status}. Press retry to try again.`, code: 'http', requestId: '', status }
}
