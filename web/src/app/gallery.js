// The gallery of recent uploads from GET /api/v1/images: newest first,
// lazy-loaded thumbnails, "Load more" pages through the cursor.
import { absoluteURL, listImages } from './api.js'
import { el } from './dom.js'
import { formatBytes, formatDimensions } from './format.js'

const pageSize = 24

function item(rec) {
  const name = rec.filename || `${rec.sha256.slice(0, 12)}.${rec.ext}`
  return el('li', { class: 'gallery-item', 'data-sha256': rec.sha256 },
    el('a', { href: absoluteURL(rec.url), target: '_blank', rel: 'noopener', title: name },
      el('img', { src: rec.url, alt: name, width: rec.width, height: rec.height, loading: 'lazy', decoding: 'async' }),
      el('span', { class: 'gallery-caption' },
        el('span', { class: 'gallery-name' }, name),
        el('span', { class: 'gallery-meta' }, `${formatDimensions(rec)} · ${formatBytes(rec.size)}`))))
}

export class Gallery {
  constructor({ list, status, more }) {
    this.list = list
    this.status = status
    this.more = more
    this.next = ''
    this.seen = new Set()
    this.loading = false
    more.addEventListener('click', () => this.loadMore())
  }

  #setStatus(text) {
    this.status.textContent = text
  }

  // loadMore fetches the next page and appends it.
  async loadMore() {
    if (this.loading) return
    this.loading = true
    this.more.disabled = true
    this.list.setAttribute('aria-busy', 'true')
    this.#setStatus('Loading…')
    try {
      const page = await listImages({ limit: pageSize, before: this.next })
      const fresh = (page.images ?? []).filter((r) => !this.seen.has(r.sha256))
      for (const rec of fresh) {
        this.seen.add(rec.sha256)
        this.list.append(item(rec))
      }
      this.next = page.next ?? ''
      this.more.hidden = this.next === ''
      this.#setStatus(this.seen.size === 0 ? 'No images yet. Your uploads will appear here.' : '')
      if (fresh.length > 0 && document.activeElement === this.more && this.more.hidden) {
        this.list.lastElementChild.querySelector('a').focus()
      }
    } catch (err) {
      this.#setStatus(`Could not load images: ${err.message}`)
    } finally {
      this.loading = false
      this.more.disabled = false
      this.list.removeAttribute('aria-busy')
    }
  }

  // prepend puts a just-published image first (once).
  prepend(rec) {
    if (this.seen.has(rec.sha256)) {
      const old = this.list.querySelector(`[data-sha256="${rec.sha256}"]`)
      if (old) this.list.prepend(old)
      return
    }
    this.seen.add(rec.sha256)
    this.list.prepend(item(rec))
    this.#setStatus('')
  }
}
