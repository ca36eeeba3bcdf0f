// Entry point of the tusimg page: reads the server's upload policy, mounts
// the Dashboard, and wires finished uploads into the results and gallery.
import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'
import '@uppy/image-editor/css/style.min.css'
import '@uppy/webcam/css/style.min.css'
import './style.css'
import { getConfig } from './api.js'
import { Gallery } from './gallery.js'
import { Results } from './results.js'
import { createUploader } from './uploader.js'

const byId = (id) => document.getElementById(id)

function showPageError(message) {
  const p = byId('page-error')
  p.textContent = message
  p.hidden = false
}

async function start() {
  const gallery = new Gallery({ list: byId('gallery'), status: byId('gallery-status'), more: byId('gallery-more') })
  const results = new Results(byId('results-section'), byId('results'))
  gallery.loadMore()
  let config
  try {
    config = await getConfig()
  } catch (err) {
    showPageError(`The upload form could not start: ${err.message} Reload the page to try again.`)
    return
  }
  createUploader({
    target: byId('uploader'),
    config,
    onUploaded(file, record, url) {
      results.addImage(file.id, record, url)
      gallery.prepend(record)
    },
    onRejected(file, info) {
      results.addError(file.id, file.name, info)
    },
  })
}

start()
