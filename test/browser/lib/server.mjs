// Runs the tusimg binary as a child process on 127.0.0.1, so a test can kill
// it mid-upload and start it again on the same port and data directory.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { env } from './env.mjs'

const startTimeout = 20_000

export class Server {
  constructor(dataDir) {
    this.data = dataDir
    this.addr = ''
    this.child = null
    this.log = []
  }

  // create makes a server with a fresh data directory; call start next.
  static async create() {
    return new Server(await mkdtemp(path.join(os.tmpdir(), 'tusimg-browser-')))
  }

  get url() {
    return `http://${this.addr}`
  }

  // start runs the binary on listen (default 127.0.0.1:0) and resolves once
  // it logs server.started, remembering the bound address.
  start(listen = '127.0.0.1:0') {
    const child = spawn(env.bin, ['serve', '--listen', listen, '--data', this.data, '--shutdown-grace', '2s'],
      { stdio: ['ignore', 'ignore', 'pipe'] })
    this.child = child
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start in ${startTimeout} ms:\n${this.logText()}`)), startTimeout)
      let buf = ''
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (chunk) => {
        buf += chunk
        const lines = buf.split('\n')
        buf = lines.pop()
        for (const line of lines) {
          this.log.push(line)
          const m = /msg=server\.started .*?addr=(\S+)/.exec(line)
          if (m) {
            clearTimeout(timer)
            this.addr = m[1]
            resolve(this)
          }
        }
      })
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`server exited (${code ?? signal}) before starting:\n${this.logText()}`))
      })
      child.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  // kill stops the process at once (SIGKILL: no graceful shutdown) and waits.
  async kill(signal = 'SIGKILL') {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
    this.child = null
  }

  // stop shuts down gracefully and removes the data directory.
  async stop() {
    await this.kill('SIGTERM')
    await rm(this.data, { recursive: true, force: true })
  }

  logText() {
    return this.log.slice(-40).join('\n')
  }
}
