// licenseText lists every npm package whose code is in the bundle, with its
// license file, so the served page carries the notices its licenses ask for.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'

// packageDirs maps bundle inputs (paths relative to the source dir) to the
// node_modules directories of their packages.
function packageDirs(inputs) {
  const dirs = new Set()
  for (const input of inputs) {
    const parts = input.split('/')
    const i = parts.lastIndexOf('node_modules')
    if (i === -1) continue
    const n = parts[i + 1].startsWith('@') ? 2 : 1
    dirs.add(parts.slice(0, i + 1 + n).join('/'))
  }
  return [...dirs].sort()
}

async function licenseFile(dir) {
  const names = (await readdir(dir)).filter((n) => /^(licen[cs]e|copying)(\.|$)/i.test(n)).sort()
  if (names.length === 0) return ''
  return (await readFile(path.join(dir, names[0]), 'utf8')).trim()
}

export async function licenseText(root, inputs) {
  const parts = ['Third-party software in this page\'s JavaScript and CSS bundle.\n']
  for (const dir of packageDirs(inputs)) {
    const pkg = JSON.parse(await readFile(path.join(root, dir, 'package.json'), 'utf8'))
    const text = (await licenseFile(path.join(root, dir))) || `License: ${pkg.license ?? 'see package'}`
    parts.push(`${'='.repeat(72)}\n${pkg.name} ${pkg.version} (${pkg.license ?? 'unknown'})\n\n${text}\n`)
  }
  return parts.join('\n')
}
