// Successful uploads with tus-js-client: small chunks, creation-with-upload,
// deferred length, a 2 MB image, and the same bytes twice (dedupe).
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { test } from 'node:test'
import {
  BASE,
  LARGE_PNG,
  TIMEOUT,
  assertAccepted,
  getJSON,
  imagePath,
  patches,
  sha256,
  testdata,
  upload,
  uploadId,
  uploadLeftovers,
} from './helpers.mjs'

// Checks the client really went chunk by chunk: one POST, then PATCHes at
// 0, chunk, 2*chunk, ... up to the size, and progress reached the end.
function assertChunked(state, size, chunk) {
  assert.deepEqual(
    state.requests.filter((r) => r.method !== 'PATCH').map((r) => r.method),
    ['POST'],
    'requests other than PATCH',
  )
  const want = []
  for (let off = 0; off < size; off += chunk) want.push(off)
  assert.deepEqual(patches(state), want, 'PATCH offsets')
  assert.equal(state.chunks.reduce((n, c) => n + c.size, 0), size, 'bytes in onChunkComplete')
  assert.equal(state.progress.at(-1), size, 'last onProgress')
}

async function assertSessionCompleted(url, sha) {
  const id = uploadId(url)
  const st = await getJSON(`${BASE}/api/v1/uploads/${id}`)
  assert.equal(st.res.status, 200, st.text)
  assert.equal(st.json.state, 'completed', st.text)
  assert.equal(st.json.sha256, sha, st.text)
  assert.deepEqual(uploadLeftovers(id), [], 'upload files left in DATA/uploads')
}

for (const [file, type, ext] of [
  ['ok.png', 'image/png', 'png'],
  ['ok.jpg', 'image/jpeg', 'jpg'],
]) {
  test(`${file} in 1 KiB chunks is published under its SHA-256`, { timeout: TIMEOUT }, async () => {
    const buf = testdata(file)
    const { done, state } = upload(buf, {
      chunkSize: 1024,
      metadata: { filename: `photo.${ext}`, filetype: type },
    })
    const result = await done
    const sha = await assertAccepted(result, buf, { type, ext })
    assertChunked(state, buf.length, 1024)
    assert.ok(state.requests.length > 2, 'more than one PATCH')
    await assertSessionCompleted(result.url, sha)
  })
}

test('creation-with-upload sends the first chunk in the POST', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.jpg')
  const { done, state } = upload(buf, {
    chunkSize: 512,
    uploadDataDuringCreation: true,
    metadata: { filename: 'withdata.jpg', filetype: 'image/jpeg' },
  })
  const result = await done
  await assertAccepted(result, buf, { type: 'image/jpeg', ext: 'jpg' })
  assert.equal(state.requests[0].method, 'POST')
  assert.deepEqual(patches(state), [512, 1024], 'PATCH offsets after a 512-byte POST')
})

test('deferred length (Upload-Defer-Length) finishes when the last chunk declares it', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.png')
  const { done, state } = upload(buf, {
    chunkSize: 4096,
    uploadLengthDeferred: true,
    metadata: { filename: 'deferred.png' },
  })
  const result = await done
  await assertAccepted(result, buf, { type: 'image/png', ext: 'png' })
  assert.deepEqual(patches(state), [0, 4096, 8192])
})

test('a 2 MB PNG in 64 KiB chunks', { timeout: TIMEOUT, skip: !LARGE_PNG && 'TUSIMG_LARGE_PNG not set' }, async () => {
  const buf = readFileSync(LARGE_PNG)
  assert.ok(buf.length > 1_500_000, `large PNG is only ${buf.length} bytes`)
  const { done, state } = upload(buf, { chunkSize: 64 * 1024, metadata: { filename: 'large.png', filetype: 'image/png' } })
  const result = await done
  const sha = await assertAccepted(result, buf, { type: 'image/png', ext: 'png' })
  assertChunked(state, buf.length, 64 * 1024)
  await assertSessionCompleted(result.url, sha)
})

test('the same bytes uploaded twice are stored once', { timeout: TIMEOUT }, async () => {
  // ok.webp is uploaded by no other test file, so it is new to the server.
  const buf = testdata('ok.webp')
  const sha = sha256(buf)
  assert.equal(existsSync(imagePath(sha)), false, 'ok.webp was stored before this test')
  const first = await upload(buf, { chunkSize: 100, metadata: { filename: 'first.webp' } }).done
  await assertAccepted(first, buf, { type: 'image/webp', ext: 'webp' })
  const second = await upload(buf, { chunkSize: 100, metadata: { filename: 'second.webp' } }).done
  await assertAccepted(second, buf, { type: 'image/webp', ext: 'webp' })
  assert.notEqual(first.url, second.url, 'two separate uploads')
  assert.equal(second.lastResponse.getHeader('Image-Sha256'), first.lastResponse.getHeader('Image-Sha256'))
  assert.deepEqual(readdirSync(dirname(imagePath(sha))).filter((f) => f.startsWith(sha)).sort(), [sha, `${sha}.json`])
  const rec = await getJSON(`${BASE}/api/v1/images/${sha}`)
  assert.equal(rec.json.filename, 'first.webp', 'the record of the first upload is kept')
  await assertSessionCompleted(first.url, sha)
  await assertSessionCompleted(second.url, sha)
})
