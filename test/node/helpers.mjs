// Shared helpers for the tus-js-client end-to-end tests. The Go harness
// (test/e2e/node_test.go) starts the server and sets the environment:
//   TUSIMG_URL       http://127.0.0.1:PORT of the running server
//   TUSIMG_DATA      its data directory
//   TUSIMG_TESTDATA  absolute path of the repository's testdata/
//   TUSIMG_LARGE_PNG a generated ~2 MB PNG (optional for a few tests)
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import * as tus from 'tus-js-client'

export { tus }

function env(name) {
  const v = process.env[name]
  if (!v) {
    throw new Error(`${name} is not set; run these tests through go test ./test/e2e/ -run Node`)
  }
  return v
}

export const BASE = env('TUSIMG_URL').replace(/\/+$/, '')
export const ENDPOINT = `${BASE}/files/`
export const DATA = env('TUSIMG_DATA')
export const TESTDATA = env('TUSIMG_TESTDATA')
export const LARGE_PNG = process.env.TUSIMG_LARGE_PNG || ''

// Every test gets this timeout (ms) so that a hung upload fails instead of
// blocking the run.
export const TIMEOUT = 30_000

export function testdata(name) {
  return readFileSync(join(TESTDATA, name))
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex')
}

// upload runs one tus.Upload to its end. Its `done` promise resolves with
// { ok: true, lastResponse, url } on onSuccess or { ok: false, error, url } on
// onError; `state` records every request the client sent (method, url,
// Upload-Offset), the onProgress values and the onChunkComplete calls.
// hooks.onProgress(state, sent, total) lets a test abort mid-way; a test that
// aborts resolves `done` itself with state.settle(value), as tus-js-client
// calls neither callback after abort(). hooks.beforeStart(upload) runs before
// start() (e.g. to pick a previous upload from the URL storage).
export function upload(file, options = {}, hooks = {}) {
  const state = { requests: [], chunks: [], progress: [], upload: null, settle: null }
  let settled = false
  const done = new Promise((resolve) => {
    state.settle = (v) => {
      settled = true
      resolve(v)
    }
  })
  const opts = {
    endpoint: ENDPOINT,
    retryDelays: [0, 200, 500],
    ...options,
    onBeforeRequest(req) {
      state.requests.push({ method: req.getMethod(), url: req.getURL(), offset: req.getHeader('Upload-Offset') })
      return options.onBeforeRequest?.(req)
    },
    onProgress(sent, total) {
      state.progress.push(sent)
      hooks.onProgress?.(state, sent, total)
    },
    onChunkComplete(size, accepted, total) {
      state.chunks.push({ size, accepted, total })
      hooks.onChunkComplete?.(state, size, accepted, total)
    },
    onSuccess(payload) {
      state.successes = (state.successes ?? 0) + 1
      if (!settled) state.settle({ ok: true, lastResponse: payload.lastResponse, url: state.upload.url })
    },
    onError(error) {
      state.errors = (state.errors ?? 0) + 1
      if (!settled) state.settle({ ok: false, error, url: state.upload.url })
    },
  }
  state.upload = new tus.Upload(file, opts)
  Promise.resolve(hooks.beforeStart?.(state.upload))
    .then(() => state.upload.start())
    .catch((error) => state.settle({ ok: false, error, url: null }))
  return { done, state }
}

// patches returns the Upload-Offset of every PATCH the client sent.
export function patches(state) {
  return state.requests.filter((r) => r.method === 'PATCH').map((r) => Number(r.offset))
}

// Raw HTTP helpers (fetch) for what a user checks besides the client.
export async function head(url) {
  return fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } })
}

// headSettled sends HEAD until the upload is not locked (423) any more: after
// an abort mid-request the server may still be finishing the cut PATCH.
export async function headSettled(url, ms = 10_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const res = await head(url)
    if (res.status !== 423 || Date.now() > deadline) return res
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function getBytes(url) {
  const res = await fetch(url)
  return { res, body: Buffer.from(await res.arrayBuffer()) }
}

export async function getJSON(url) {
  const res = await fetch(url)
  const text = await res.text()
  let json = null
  try {
    json = JSON.parse(text)
  } catch {}
  return { res, json, text }
}

export function uploadId(url) {
  return url.slice(url.lastIndexOf('/') + 1)
}

// imagePath is where the content store keeps the bytes of sha.
export function imagePath(sha) {
  return join(DATA, 'images', sha.slice(0, 2), sha.slice(2, 4), sha)
}

// imageFiles lists every regular file under DATA/images (absolute paths).
export function imageFiles(dir = join(DATA, 'images')) {
  if (!existsSync(dir)) return []
  const out = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...imageFiles(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

// assertNotStored checks that no file in DATA/images holds these bytes.
export function assertNotStored(buf) {
  const sha = sha256(buf)
  assert.equal(existsSync(imagePath(sha)), false, `${imagePath(sha)} exists`)
  for (const p of imageFiles()) {
    if (p.endsWith('.json')) continue
    assert.equal(basename(p) === sha || readFileSync(p).equals(buf), false, `${p} holds the rejected bytes`)
  }
}

// uploadLeftovers lists the files of upload id in DATA/uploads other than its
// outcome record (the bytes, .info and hash state must be gone when the
// session ended).
export function uploadLeftovers(id) {
  const dir = join(DATA, 'uploads')
  return readdirSync(dir).filter((f) => f.startsWith(id) && f !== `${id}.outcome`)
}

// errorDetails pulls status and JSON error out of a tus DetailedError.
export function errorDetails(error) {
  const res = error?.originalResponse
  let body = null
  if (res) {
    try {
      body = JSON.parse(res.getBody())
    } catch {}
  }
  return {
    status: res ? res.getStatus() : null,
    method: error?.originalRequest?.getMethod() ?? null,
    url: error?.originalRequest?.getURL() ?? null,
    code: body?.error?.code ?? null,
    message: body?.error?.message ?? null,
    requestId: body?.error?.request_id ?? null,
    body,
  }
}

// assertAccepted checks a successful upload the way a user would: the last
// response names the file's SHA-256, the image URL serves the same bytes with
// the right type, and the record and the stored file agree.
export async function assertAccepted(result, buf, { type, ext, base = BASE }) {
  assert.equal(result.ok, true, `upload failed: ${result.error}`)
  const want = sha256(buf)
  const res = result.lastResponse
  assert.equal(res.getHeader('Image-Sha256'), want, 'Image-Sha256 of the last response')
  const imageUrl = res.getHeader('Image-Url')
  assert.equal(imageUrl, `${base}/i/${want}.${ext}`, 'Image-Url')
  const { res: img, body } = await getBytes(imageUrl)
  assert.equal(img.status, 200, `GET ${imageUrl}`)
  assert.equal(img.headers.get('content-type'), type)
  assert.ok(body.equals(buf), `GET ${imageUrl} returned ${body.length} different bytes`)
  assert.ok(readFileSync(imagePath(want)).equals(buf), 'stored file differs')
  const rec = await getJSON(`${BASE}/api/v1/images/${want}`)
  assert.equal(rec.res.status, 200)
  assert.equal(rec.json.sha256, want)
  assert.equal(rec.json.size, buf.length)
  assert.equal(rec.json.type, type)
  assert.equal(rec.json.url, `/i/${want}.${ext}`)
  return want
}
