// Termination with tus-js-client: Upload.terminate(url) and abort(true).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  BASE,
  TIMEOUT,
  assertAccepted,
  getBytes,
  getJSON,
  head,
  testdata,
  tus,
  upload,
  uploadId,
  uploadLeftovers,
} from './helpers.mjs'

// startThenStop uploads buf in chunks and aborts after `chunks` acknowledged
// chunks (abort(terminate)), resolving with the upload URL and abort promise.
async function startThenStop(buf, chunkSize, chunks, terminate) {
  const { done } = upload(
    buf,
    { chunkSize, metadata: { filename: 'stopped.jpg' } },
    {
      onChunkComplete(state, _size, accepted) {
        if (accepted === chunks * chunkSize) {
          const aborting = state.upload.abort(terminate)
          state.settle({ aborted: true, url: state.upload.url, aborting })
        }
      },
    },
  )
  const r = await done
  assert.equal(r.aborted, true, `upload ended before the abort: ${r.ok ? 'success' : r.error}`)
  return r
}

async function assertGone(url) {
  const h = await head(url)
  assert.equal(h.status, 404, `HEAD ${url} after termination`)
  const id = uploadId(url)
  assert.deepEqual(uploadLeftovers(id), [], 'files of a terminated upload left in DATA/uploads')
  const st = await getJSON(`${BASE}/api/v1/uploads/${id}`)
  assert.equal(st.res.status, 404, `status API after termination: ${st.text}`)
}

test('abort, then tus.Upload.terminate(url): HEAD 404, bytes gone', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.jpg')
  const { url, aborting } = await startThenStop(buf, 256, 2, false)
  await aborting
  const before = await head(url)
  assert.equal(before.status, 200)
  assert.equal(before.headers.get('upload-offset'), '512')
  await tus.Upload.terminate(url, { retryDelays: null })
  await assertGone(url)
  // A second terminate of the same URL is refused (the upload is unknown).
  await assert.rejects(tus.Upload.terminate(url, { retryDelays: null }), (err) => {
    assert.equal(err.originalResponse?.getStatus(), 404)
    return true
  })
})

test('abort(true) terminates the upload', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.jpg')
  const { url, aborting } = await startThenStop(buf, 256, 1, true)
  await aborting // resolves once DELETE answered 204
  await assertGone(url)
})

test('terminating a finished upload keeps its published image', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.png')
  const result = await upload(buf, { chunkSize: 4096, metadata: { filename: 'kept.png' } }).done
  await assertAccepted(result, buf, { type: 'image/png', ext: 'png' })
  await tus.Upload.terminate(result.url, { retryDelays: null })
  assert.equal((await head(result.url)).status, 404)
  const { res, body } = await getBytes(result.lastResponse.getHeader('Image-Url'))
  assert.equal(res.status, 200, 'image removed by DELETE of its upload')
  assert.ok(body.equals(buf))
})
