// Rejected uploads as tus-js-client sees them: onError (never onSuccess) with
// the server's status and JSON error, no success on resume, nothing stored.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  BASE,
  ENDPOINT,
  TIMEOUT,
  assertAccepted,
  assertNotStored,
  errorDetails,
  getJSON,
  head,
  patches,
  sha256,
  testdata,
  upload,
  uploadId,
  uploadLeftovers,
} from './helpers.mjs'

// assertRejected checks one finished (failed) tus-js-client run: onError,
// not onSuccess, with the expected status and (except for HEAD, which has no
// body) our JSON error.
function assertRejected(result, state, { status, code, method = 'PATCH' }) {
  assert.equal(result.ok, false, 'onSuccess was called for a file the server must reject')
  assert.equal(state.successes ?? 0, 0, 'onSuccess calls')
  const e = errorDetails(result.error)
  assert.equal(e.status, status, `status; error: ${result.error?.message}`)
  assert.equal(e.method, method, 'request that failed')
  if (method !== 'HEAD') {
    assert.equal(e.code, code, `JSON error code; body: ${result.error?.originalResponse?.getBody()}`)
    assert.ok(e.message, 'JSON error message')
  }
  return e
}

// assertSessionRejected checks the status API and the upload area.
async function assertSessionRejected(url, code) {
  const id = uploadId(url)
  const st = await getJSON(`${BASE}/api/v1/uploads/${id}`)
  assert.equal(st.res.status, 200, st.text)
  assert.equal(st.json.state, 'rejected', st.text)
  assert.equal(st.json.error?.code, code, st.text)
  assert.deepEqual(uploadLeftovers(id), [], 'rejected bytes left in DATA/uploads')
  const h = await head(url)
  assert.equal(h.status, 410, `HEAD ${url} after rejection`)
}

test('HTML disguised as page.png: 415, and resuming its URL never succeeds', { timeout: TIMEOUT }, async (t) => {
  const buf = testdata('html_as.png')
  const options = { chunkSize: 1024, metadata: { filename: 'page.png', filetype: 'image/png' } }
  const first = upload(buf, options)
  const result = await first.done
  const e = assertRejected(result, first.state, { status: 415, code: 'type_not_allowed' })
  assert.ok(e.requestId, 'JSON error carries a request_id')
  const url = result.url
  await assertSessionRejected(url, 'type_not_allowed')

  await t.test('resume with only the URL: onError on HEAD 410', async () => {
    const again = upload(buf, { ...options, endpoint: null, uploadUrl: url })
    const r = await again.done
    assertRejected(r, again.state, { status: 410, method: 'HEAD' })
    assert.deepEqual(patches(again.state), [], 'no bytes sent to a rejected upload')
  })

  await t.test('resume with URL and endpoint: a new upload, rejected again', async () => {
    const again = upload(buf, { ...options, uploadUrl: url })
    const r = await again.done
    assertRejected(r, again.state, { status: 415, code: 'type_not_allowed' })
    assert.deepEqual(
      again.state.requests.map((q) => q.method),
      ['HEAD', 'POST', 'PATCH'],
    )
    assert.notEqual(r.url, url, 'a new upload URL')
    await assertSessionRejected(r.url, 'type_not_allowed')
  })
  assertNotStored(buf)
})

test('a 20 KiB non-image is refused within its first 3 KiB', { timeout: TIMEOUT }, async () => {
  const html = testdata('html_as.png')
  const buf = Buffer.concat(Array(Math.ceil((20 * 1024) / html.length)).fill(html)).subarray(0, 20 * 1024)
  const { done, state } = upload(buf, { chunkSize: 1024, metadata: { filename: 'big.png' } })
  const result = await done
  assertRejected(result, state, { status: 415, code: 'type_not_allowed' })
  const sent = patches(state)
  assert.ok(sent.at(-1) <= 3 * 1024, `refused only at the PATCH at offset ${sent.at(-1)} (PATCHes ${sent})`)
  await assertSessionRejected(result.url, 'type_not_allowed')
  assertNotStored(buf)
})

test('polyglot.png (PNG with trailing data): 422 trailing_data', { timeout: TIMEOUT }, async () => {
  const buf = testdata('polyglot.png')
  const { done, state } = upload(buf, { chunkSize: 1024, metadata: { filename: 'poly.png', filetype: 'image/png' } })
  const result = await done
  assertRejected(result, state, { status: 422, code: 'trailing_data' })
  assert.equal(patches(state).length, Math.ceil(buf.length / 1024), 'judged on the finished upload')
  await assertSessionRejected(result.url, 'trailing_data')
  const again = upload(buf, { endpoint: null, uploadUrl: result.url, chunkSize: 1024 })
  const r = await again.done
  assertRejected(r, again.state, { status: 410, method: 'HEAD' })
  assertNotStored(buf)
})

test('metadata sha256: the right hash is accepted', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.gif')
  const { done } = upload(buf, { chunkSize: 128, metadata: { filename: 'hashed.gif', sha256: sha256(buf) } })
  await assertAccepted(await done, buf, { type: 'image/gif', ext: 'gif' })
})

test('metadata sha256: a wrong hash fails with 460', { timeout: TIMEOUT }, async () => {
  // ok_animated.webp is uploaded by no other test, so it must stay unknown.
  const buf = testdata('ok_animated.webp')
  const wrong = sha256(Buffer.from('something else'))
  const { done, state } = upload(buf, { chunkSize: 512, metadata: { filename: 'anim.webp', sha256: wrong } })
  const result = await done
  const e = assertRejected(result, state, { status: 460, code: 'checksum_mismatch' })
  assert.equal(patches(state).length, Math.ceil(buf.length / 512))
  assert.ok(!JSON.stringify(e.body).includes(process.env.TUSIMG_DATA), 'no server paths in the error')
  await assertSessionRejected(result.url, 'checksum_mismatch')
  assertNotStored(buf)
  const rec = await getJSON(`${BASE}/api/v1/images/${sha256(buf)}`)
  assert.equal(rec.res.status, 404, 'no image record for the refused bytes')
})

test('metadata sha256 that is not a hash: 400 at creation', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.gif')
  const { done, state } = upload(buf, { chunkSize: 128, metadata: { filename: 'x.gif', sha256: 'not-a-hash' } })
  const result = await done
  assertRejected(result, state, { status: 400, code: 'bad_metadata', method: 'POST' })
  assert.deepEqual(
    state.requests.map((q) => q.method),
    ['POST'],
  )
  assert.equal(result.url, null, 'no upload was created')
  assert.equal(result.error.originalRequest.getURL(), ENDPOINT)
})

test('creation-with-upload of a whole bad file: onError on the POST', { timeout: TIMEOUT }, async () => {
  for (const [file, filename, status, code] of [
    ['html_as.png', 'page.png', 415, 'type_not_allowed'],
    ['polyglot.png', 'poly.png', 422, 'trailing_data'],
  ]) {
    const buf = testdata(file)
    const { done, state } = upload(buf, { uploadDataDuringCreation: true, metadata: { filename } })
    const result = await done
    assertRejected(result, state, { status, code, method: 'POST' })
    assert.deepEqual(
      state.requests.map((q) => q.method),
      ['POST'],
      file,
    )
    assertNotStored(buf)
  }
})
