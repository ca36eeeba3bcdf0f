// The Uppy Dashboard that uploads to tusimg's tus endpoint. Restrictions come
// from GET /api/v1/config, so the page and the server agree; the server still
// decides, and its message is what a rejected file shows.
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import ImageEditor from '@uppy/image-editor'
import Tus from '@uppy/tus'
import Webcam from '@uppy/webcam'
import { getImage, uploadStatus } from './api.js'
import { describeUploadError } from './errors.js'
import { formatBytes, listTypes } from './format.js'

// A patient retry schedule: a server restart or a dropped Wi-Fi connection
// is bridged without the person pressing retry.
const retryDelays = [0, 1000, 2000, 4000, 8000, 15000, 30000]

function restrictionsFrom(config) {
  return {
    maxFileSize: config.max_size,
    minFileSize: 1,
    allowedFileTypes: [...config.allowed_types, ...config.allowed_extensions],
  }
}

// sha256Of finds the published image's hash: from the final response's
// Image-Sha256 header, or, when the upload was already complete (a resumed
// upload whose last answer was lost), from the upload status API.
async function sha256Of(response) {
  const xhr = response?.body?.xhr
  const sha = xhr?.getResponseHeader?.('Image-Sha256')
  if (sha) return sha
  const id = String(response?.uploadURL ?? '').split('/').filter(Boolean).pop()
  if (!id) throw new Error('The server did not say where the image is.')
  const st = await uploadStatus(id)
  if (!st.sha256) throw new Error('The server has not published this image.')
  return st.sha256
}

function imageURLOf(response) {
  return response?.body?.xhr?.getResponseHeader?.('Image-Url') || ''
}

// cameraReady refuses a camera picture taken before the video showed a frame:
// @uppy/webcam then adds a 4-byte file holding the text "null".
function cameraReady(uppy, file) {
  if (file.source !== 'Webcam' || (file.data?.size ?? 0) > 64) return true
  uppy.info('The camera was not ready yet. Take the picture again.', 'error', 5000)
  return false
}

// addPasteAnywhere lets images pasted anywhere on the page (not only into
// the focused Dashboard, which handles its own paste) join the upload list.
function addPasteAnywhere(uppy) {
  document.addEventListener('paste', (event) => {
    if (event.defaultPrevented || event.target.closest?.('.uppy-Dashboard, input, textarea, [contenteditable]')) return
    const files = [...(event.clipboardData?.files ?? [])]
    if (files.length === 0) return
    event.preventDefault()
    for (const f of files) {
      try {
        uppy.addFile({ source: 'paste', name: f.name || 'pasted-image', type: f.type, data: f })
      } catch {
        // Uppy already told the person why (restrictions, duplicates).
      }
    }
  })
}

// createUploader mounts the Dashboard into target. onUploaded(file, record,
// url) runs for every published image (url is the server's absolute
// Image-Url, may be empty); onRejected(file, info) for every failed file,
// where info is {message, code, requestId, status}. file is Uppy's file.
export function createUploader({ target, config, onUploaded, onRejected }) {
  const uppy = new Uppy({
    id: 'tusimg',
    autoProceed: false,
    restrictions: restrictionsFrom(config),
    onBeforeFileAdded: (file) => cameraReady(uppy, file),
  })
  uppy.use(Dashboard, {
    inline: true,
    target,
    width: '100%',
    height: 440,
    theme: 'auto',
    note: `${listTypes(config.allowed_types)}, up to ${formatBytes(config.max_size)} each`,
    proudlyDisplayPoweredByUppy: false,
    showProgressDetails: true,
    showLinkToFileUploadResult: false,
    fileManagerSelectionType: 'files',
  })
  uppy.use(ImageEditor, { quality: 0.9 })
  if (navigator.mediaDevices?.getUserMedia) {
    uppy.use(Webcam, { modes: ['picture'], mirror: true, showVideoSourceDropdown: true })
  }
  uppy.use(Tus, {
    endpoint: config.tus_endpoint,
    retryDelays,
    limit: 3,
    removeFingerprintOnSuccess: true,
    allowedMetaFields: ['name', 'type'],
    // Runs before Uppy records the error, so the Dashboard and the
    // notification show the server's message instead of tus-js-client's.
    onError(err) {
      err.message = describeUploadError(err).message
    },
  })

  addPasteAnywhere(uppy)
  uppy.on('upload-error', (file, err, response) => {
    const info = describeUploadError(err, response)
    if (file && uppy.getFile(file.id)) uppy.setFileState(file.id, { error: info.message })
    if (file) onRejected(file, info)
  })
  uppy.on('upload-success', async (file, response) => {
    try {
      const record = await getImage(await sha256Of(response))
      onUploaded(file, record, imageURLOf(response))
    } catch (err) {
      onRejected(file, { message: err.message, code: 'lookup', requestId: err.requestId ?? '', status: err.status ?? 0 })
    }
  })
  return uppy
}
