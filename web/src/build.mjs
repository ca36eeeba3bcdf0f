// Builds the tusimg page into a dist directory (default ../dist):
//   index.html                      the page, referencing the hashed assets
//   assets/app-<hash>.js, .css      the bundle (esbuild, minified)
//   assets/favicon-<hash>.svg
//   assets/licenses-<hash>.txt      licenses of the bundled npm packages
// Same sources give the same bytes, so web/web_test.go can compare a fresh
// build with the committed one.
//
// Usage: node build.mjs [--out DIR]
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'
import { licenseText } from './licenses.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

function outDir(argv) {
  const i = argv.indexOf('--out')
  if (i === -1) return path.join(here, '..', 'dist')
  if (!argv[i + 1]) throw new Error('--out needs a directory')
  return path.resolve(argv[i + 1])
}

// hashedName gives name-<HASH>.ext with the same 8-character style as esbuild.
function hashedName(name, ext, bytes) {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 8).toUpperCase()
  return `${name}-${hash}${ext}`
}

async function bundle() {
  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: { app: 'app/main.js' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome100', 'edge100', 'firefox100', 'safari15'],
    charset: 'utf8',
    legalComments: 'eof',
    outdir: 'out/assets',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    write: false,
    logLevel: 'warning',
  })
  const files = new Map() // name in assets/ -> bytes
  for (const f of result.outputFiles) files.set(path.basename(f.path), f.contents)
  const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === 'app/main.js')
  return {
    files,
    js: path.basename(entry[0]),
    css: path.basename(entry[1].cssBundle),
    inputs: Object.keys(result.metafile.inputs),
  }
}

async function build(out) {
  const started = performance.now()
  const { files, js, css, inputs } = await bundle()
  const favicon = await readFile(path.join(here, 'favicon.svg'))
  const faviconName = hashedName('favicon', '.svg', favicon)
  files.set(faviconName, favicon)
  const licenses = Buffer.from(await licenseText(here, inputs))
  const licensesName = hashedName('licenses', '.txt', licenses)
  files.set(licensesName, licenses)

  const template = await readFile(path.join(here, 'index.html'), 'utf8')
  const names = { js, css, favicon: faviconName, licenses: licensesName }
  const html = template.replace(/\{\{(\w+)\}\}/g, (m, key) => {
    if (!(key in names)) throw new Error(`index.html: unknown placeholder ${m}`)
    return `/assets/${names[key]}`
  })

  await rm(path.join(out, 'assets'), { recursive: true, force: true })
  await mkdir(path.join(out, 'assets'), { recursive: true })
  for (const [name, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    await writeFile(path.join(out, 'assets', name), bytes)
  }
  await writeFile(path.join(out, 'index.html'), html)
  const ms = Math.round(performance.now() - started)
  const sizes = [...files].map(([name, bytes]) => `${name} ${bytes.length}`).join(', ')
  console.log(`built ${out} in ${ms} ms: ${sizes}`)
}

build(outDir(process.argv.slice(2))).catch((err) => {
  console.error(err.message)
  process.exitCode = 1
})
