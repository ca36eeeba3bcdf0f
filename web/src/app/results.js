// The "Just uploaded" list: one card per finished file, newest first. A
// published image shows its picture, absolute URL with a copy button,
// dimensions and size; a rejected file shows the server's message.
import { absoluteURL } from './api.js'
import { copyText } from './copy.js'
import { announce, el } from './dom.js'
import { formatBytes, formatDimensions, typeLabel } from './format.js'

let nextId = 0

function urlField(url) {
  const id = `result-url-${++nextId}`
  const input = el('input', { id, class: 'url-input', type: 'text', readonly: true, value: url, spellcheck: 'false' })
  input.addEventListener('focus', () => input.select())
  const button = el('button', { class: 'button button--small', type: 'button' }, 'Copy')
  button.addEventListener('click', async () => {
    const ok = await copyText(url, input)
    button.textContent = ok ? 'Copied' : 'Copy failed'
    announce(ok ? 'Image URL copied' : 'Could not copy; the URL is selected, copy it with your keyboard')
    window.setTimeout(() => { button.textContent = 'Copy' }, 2000)
  })
  return el('div', { class: 'url-field' },
    el('label', { for: id, class: 'url-label' }, 'Image URL'),
    el('div', { class: 'url-row' }, input, button))
}

export class Results {
  constructor(section, list) {
    this.section = section
    this.list = list
  }

  // #put shows card first, replacing an earlier card for the same file (a
  // retried file that failed again, or that now succeeded).
  #put(fileId, card) {
    card.dataset.fileId = fileId
    for (const old of [...this.list.children]) {
      if (old.dataset.fileId === fileId) old.remove()
    }
    this.section.hidden = false
    this.list.prepend(card)
  }

  // addImage shows a published image record for Uppy file fileId. url is the
  // server's absolute Image-Url when it sent one (it knows its public base URL).
  addImage(fileId, rec, url) {
    const href = url || absoluteURL(rec.url)
    const name = rec.filename || `${rec.sha256.slice(0, 12)}.${rec.ext}`
    this.#put(fileId, el('li', { class: 'card card--ok', 'data-sha256': rec.sha256 },
      el('a', { class: 'card-thumb', href, target: '_blank', rel: 'noopener' },
        el('img', { src: rec.url, alt: `Uploaded image ${name}`, width: rec.width, height: rec.height, decoding: 'async' })),
      el('div', { class: 'card-body' },
        el('p', { class: 'card-title' }, name),
        el('dl', { class: 'facts' },
          el('dt', {}, 'Dimensions'), el('dd', { class: 'fact-dimensions' }, formatDimensions(rec)),
          el('dt', {}, 'Size'), el('dd', { class: 'fact-size' }, formatBytes(rec.size)),
          el('dt', {}, 'Type'), el('dd', {}, typeLabel(rec.type))),
        urlField(href))))
    announce(`${name} uploaded`)
  }

  // addError shows why a file was not accepted.
  addError(fileId, fileName, info) {
    this.#put(fileId, el('li', { class: 'card card--error' },
      el('div', { class: 'card-body' },
        el('p', { class: 'card-title' }, fileName),
        el('p', { class: 'error-message' }, info.message),
        info.requestId ? el('p', { class: 'hint' }, `Request ID: ${info.requestId}`) : null)))
    announce(`${fileName} was not uploaded: ${info.message}`)
  }
}
