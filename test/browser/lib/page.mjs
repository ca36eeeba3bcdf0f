// Steps on the tusimg page shared by the tests.
import { createHash } from 'node:crypto'

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

// openUploader loads the page and waits for the Dashboard.
export async function openUploader(page, url) {
  await page.goto(url)
  await page.locator('.uppy-Dashboard-inner').waitFor()
}

// addFiles puts files into the Dashboard through its file input (the one
// without webkitdirectory), as "browse files" would.
export async function addFiles(page, paths) {
  await page.locator('input.uppy-Dashboard-input:not([webkitdirectory])').setInputFiles(paths)
}

// startUpload presses the status bar's Upload button.
export async function startUpload(page) {
  await page.locator('.uppy-StatusBar-actionBtn--upload').click()
}

// resultCard is the "Just uploaded" card for a file name.
export function resultCard(page, name, kind) {
  return page.locator(`#results .card--${kind}`).filter({ has: page.locator('.card-title', { hasText: name }) })
}
