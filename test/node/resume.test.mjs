// Abort and resume with tus-js-client: from the stored upload URL and through
// the fingerprint / URL storage mechanism; resuming a finished upload.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  BASE,
  LARGE_PNG,
  TIMEOUT,
  assertAccepted,
  head,
  headSettled,
  patches,
  sha256,
  testdata,
  tus,
  upload,
  uploadId,
  uploadLeftovers,
} from './helpers.mjs'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// settledOffset waits until HEAD reports the same Upload-Offset twice in a
// row: after an abort the cut (or still running) PATCH may add bytes.
async function settledOffset(url) {
  let last = null
  for (let i = 0; i < 50; i++) {
    const res = await headSettled(url)
    assert.equal(res.status, 200, `HEAD ${url} after abort`)
    const off = Number(res.headers.get('upload-offset'))
    if (off === last) return { offset: off, length: Number(res.headers.get('upload-length')) }
    last = off
    await sleep(200)
  }
  assert.fail(`Upload-Offset of ${url} never settled`)
}

test(
  'abort a 2 MB upload mid-way, resume from its URL, only the rest is sent',
  { timeout: TIMEOUT, skip: !LARGE_PNG && 'TUSIMG_LARGE_PNG not set' },
  async (t) => {
    const buf = readFileSync(LARGE_PNG)
    const chunkSize = 64 * 1024
    // Abort from onProgress once a third is sent, as a user's cancel button
    // would. tus-js-client reports progress at each chunk's start and end
    // (multiples of chunkSize) and, in Node, when the socket buffer fills
    // inside a chunk (start + 16 KiB): we abort there, while a PATCH is under
    // way (its first bytes are usually still in Node's buffers, so the server
    // may see none of it; the next test cuts a body on the wire). A later
    // chunk boundary is the fallback.
    let abortedAt = null
    const first = upload(
      buf,
      { chunkSize, metadata: { filename: 'resume.png', filetype: 'image/png' } },
      {
        onProgress(state, sent) {
          const midChunk = sent > buf.length / 3 && sent % chunkSize !== 0
          if (abortedAt === null && (midChunk || sent > buf.length / 2)) {
            abortedAt = sent
            state.upload.abort()
            state.settle({ aborted: true, url: state.upload.url })
          }
        },
      },
    )
    const aborted = await first.done
    assert.equal(aborted.aborted, true)
    const url = aborted.url
    assert.match(url, /\/files\/[^/]+$/)
    const acked = first.state.chunks.at(-1)?.accepted ?? 0
    assert.ok(acked > 0, 'some chunks were acknowledged before the abort')

    const { offset, length } = await settledOffset(url)
    t.diagnostic(
      `aborted at ${abortedAt} bytes sent (${abortedAt % chunkSize ? 'during a PATCH' : 'between PATCHes'}), ` +
        `${acked} acknowledged; server offset ${offset} of ${length}`,
    )
    assert.equal(length, buf.length, 'Upload-Length')
    assert.ok(offset >= acked, `server offset ${offset} lost acknowledged bytes (${acked})`)
    assert.ok(offset > 0 && offset < buf.length, `offset ${offset} is not mid-way`)

    // Resume with a new Upload object that only knows the URL (no endpoint,
    // so it cannot silently start over with a new upload).
    const second = upload(buf, { endpoint: null, uploadUrl: url, chunkSize, metadata: { filename: 'resume.png' } })
    const result = await second.done
    await assertAccepted(result, buf, { type: 'image/png', ext: 'png' })
    assert.equal(result.url, url, 'same upload URL')
    const methods = second.state.requests.map((r) => r.method)
    assert.equal(methods[0], 'HEAD')
    assert.ok(!methods.includes('POST'), `resumed upload created a new one: ${methods}`)
    assert.equal(patches(second.state)[0], offset, 'first PATCH of the resumed upload starts at the server offset')
    const resent = second.state.chunks.reduce((n, c) => n + c.size, 0)
    assert.equal(resent, buf.length - offset, 'bytes sent after resuming')
    assert.ok(Math.min(...second.state.progress) >= offset, 'progress after resuming never went below the offset')
    assert.deepEqual(uploadLeftovers(uploadId(url)), [])
  },
)

// cuttingProxy forwards TCP to the server. After arm(n), the next request
// head and n bytes of its body get through; then the proxy drops the rest and
// cuts every open connection, like a network failure mid-request.
async function cuttingProxy(target) {
  const { hostname, port } = new URL(target)
  const sockets = new Set()
  let mode = 'pass' // pass | head | body | dropping
  let budget = 0
  let carry = Buffer.alloc(0)
  let cuts = 0
  function cutAll() {
    cuts++
    for (const s of sockets) s.destroy()
    sockets.clear()
    mode = 'pass'
  }
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    sockets.add(client).add(upstream)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('data', (data) => {
      if (mode === 'dropping') return
      let pass = 0
      if (mode === 'head') {
        const joined = Buffer.concat([carry, data])
        const end = joined.indexOf('\r\n\r\n')
        if (end < 0) {
          carry = joined.subarray(-3)
          upstream.write(data)
          return
        }
        pass = end + 4 - carry.length
        mode = 'body'
      }
      if (mode === 'body') {
        if (data.length - pass < budget) {
          budget -= data.length - pass
        } else {
          mode = 'dropping'
          // Let the server read what got through, then cut.
          upstream.write(data.subarray(0, pass + budget), () => setTimeout(cutAll, 100))
          return
        }
      }
      upstream.write(data)
    })
    upstream.on('data', (data) => client.write(data))
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    arm(n) {
      mode = 'head'
      budget = n
      carry = Buffer.alloc(0)
    },
    get cuts() {
      return cuts
    },
    close() {
      const closed = new Promise((resolve) => server.close(resolve))
      for (const s of sockets) s.destroy() // idle keep-alive connections
      return closed
    },
  }
}

test(
  'a connection cut in the middle of a PATCH body: tus-js-client retries and resumes',
  { timeout: TIMEOUT, skip: !LARGE_PNG && 'TUSIMG_LARGE_PNG not set' },
  async (t) => {
    const buf = readFileSync(LARGE_PNG)
    const chunkSize = 256 * 1024
    const cutChunk = 2 * chunkSize
    const bodyBytes = 100_000 // of the PATCH at cutChunk reach the server
    const proxy = await cuttingProxy(BASE)
    t.after(() => proxy.close())
    const retried = []
    const { done, state } = upload(buf, {
      endpoint: `${proxy.url}/files/`,
      chunkSize,
      metadata: { filename: 'cut.png', filetype: 'image/png' },
      onBeforeRequest(req) {
        if (req.getMethod() === 'PATCH' && req.getHeader('Upload-Offset') === String(cutChunk) && proxy.cuts === 0) {
          proxy.arm(bodyBytes)
        }
      },
      onShouldRetry(err, attempt, options) {
        retried.push(err.message)
        return tus.defaultOptions.onShouldRetry(err, attempt, options)
      },
    })
    const result = await done
    assert.equal(proxy.cuts, 1, 'the connection was cut once')
    assert.ok(retried.length >= 1, 'tus-js-client retried after the cut')
    assert.match(retried[0], new RegExp(`failed to upload chunk at offset ${cutChunk}`))
    // The server names the image under the Host it was reached at: the proxy.
    const sha = await assertAccepted(result, buf, { type: 'image/png', ext: 'png', base: proxy.url })
    assert.equal(sha, sha256(buf))
    // After the cut: HEAD, then PATCHes from the offset the server kept.
    const methods = state.requests.map((r) => `${r.method}${r.offset === undefined ? '' : ` ${r.offset}`}`)
    const i = methods.lastIndexOf('HEAD')
    assert.ok(i > 0, `no HEAD after the cut: ${methods}`)
    const resumedAt = Number(state.requests[i + 1].offset)
    t.diagnostic(`cut after ${bodyBytes} body bytes of the PATCH at ${cutChunk}; resumed at ${resumedAt}`)
    assert.ok(resumedAt >= cutChunk, `acknowledged bytes lost: resumed at ${resumedAt} < ${cutChunk}`)
    assert.ok(resumedAt <= cutChunk + bodyBytes, `resumed at ${resumedAt}, past what was sent`)
    // The proxy closes the connection after bodyBytes (FIN, no data lost in
    // flight), so the server has read exactly those; tus says it SHOULD keep
    // them, and the hash state must then continue from there.
    assert.equal(resumedAt, cutChunk + bodyBytes, 'the server keeps the bytes of an interrupted PATCH')
    assert.ok(!methods.slice(1).includes('POST'), `a new upload was created: ${methods}`)
  },
)

test('resume through the fingerprint in a FileUrlStorage', { timeout: TIMEOUT }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tusimg-urlstorage-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const urlStorage = new tus.FileUrlStorage(join(dir, 'uploads.json'))
  const buf = testdata('ok.png')
  const options = {
    chunkSize: 1024,
    urlStorage,
    removeFingerprintOnSuccess: true,
    metadata: { filename: 'fingerprint.png', filetype: 'image/png' },
  }
  // Stop cleanly after three acknowledged chunks.
  const first = upload(buf, options, {
    onChunkComplete(state, _size, accepted) {
      if (accepted === 3 * 1024) {
        state.upload.abort()
        state.settle({ aborted: true, url: state.upload.url })
      }
    },
  })
  const aborted = await first.done
  assert.equal(aborted.aborted, true)
  const stored = await urlStorage.findAllUploads()
  assert.equal(stored.length, 1, 'one upload in the URL storage')
  assert.equal(stored[0].uploadUrl, aborted.url)
  const h = await head(aborted.url)
  assert.equal(h.status, 200)
  assert.equal(h.headers.get('upload-offset'), String(3 * 1024))

  // A new Upload of the same bytes finds the previous one by fingerprint.
  let previous
  const second = upload(buf, options, {
    async beforeStart(up) {
      previous = await up.findPreviousUploads()
      assert.equal(previous.length, 1, 'previous uploads found by fingerprint')
      up.resumeFromPreviousUpload(previous[0])
    },
  })
  const result = await second.done
  await assertAccepted(result, buf, { type: 'image/png', ext: 'png' })
  assert.equal(result.url, aborted.url)
  assert.deepEqual(
    second.state.requests.map((r) => r.method),
    ['HEAD', ...Array(Math.ceil((buf.length - 3072) / 1024)).fill('PATCH')],
  )
  assert.equal(patches(second.state)[0], 3 * 1024)
  // removeFingerprintOnSuccess: the entry goes away (asynchronously).
  for (let i = 0; i < 20 && (await urlStorage.findAllUploads()).length > 0; i++) await sleep(50)
  assert.deepEqual(await urlStorage.findAllUploads(), [])
})

test('resuming a finished upload reports success without sending bytes', { timeout: TIMEOUT }, async () => {
  const buf = testdata('ok.gif')
  const done = await upload(buf, { chunkSize: 200, metadata: { filename: 'finished.gif' } }).done
  const sha = await assertAccepted(done, buf, { type: 'image/gif', ext: 'gif' })
  // The client lost the answer and resumes: HEAD says offset = length.
  const again = upload(buf, { uploadUrl: done.url, chunkSize: 200 })
  const result = await again.done
  assert.equal(result.ok, true, String(result.error))
  assert.deepEqual(
    again.state.requests.map((r) => r.method),
    ['HEAD'],
  )
  assert.equal(again.state.progress.at(-1), buf.length)
  assert.equal(result.lastResponse.getHeader('Image-Sha256'), sha, 'HEAD of a finished upload names its image')
  assert.equal(result.lastResponse.getHeader('Image-Url'), done.lastResponse.getHeader('Image-Url'))
  assert.equal(sha, sha256(buf))
})
