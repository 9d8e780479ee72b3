/**
 * The live Vers layer over a real loopback HTTP server: Node's HTTP client sends the Bearer
 * key and JSON bodies, and answers decode (FakeVers covers the full API; this only proves the
 * wiring).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as Vers from "../../src/layers/Vers.js"
import { VersApi } from "../../src/services/VersApi.js"

const vmId = "0b6f3c0e-8a4b-4c1e-9f2d-3a5b7c9d1e2f"

const server = Effect.acquireRelease(
  Effect.async<{ port: number; seen: Array<{ method: string; url: string; auth: string | undefined; body: string }>; close: () => void }>((resume) => {
    const seen: Array<{ method: string; url: string; auth: string | undefined; body: string }> = []
    const s = createServer((req, res) => {
      let body = ""
      req.on("data", (c: Buffer) => (body += c.toString()))
      req.on("end", () => {
        seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body })
        res.setHeader("content-type", "application/json")
        if (req.url === "/api/v1/vms") {
          res.end(JSON.stringify([{ vm_id: vmId, owner_id: vmId, state: "running", created_at: "2026-12-07T00:00:00Z", labels: null }]))
        } else {
          res.statusCode = 201
          res.end(JSON.stringify({ vm_id: vmId }))
        }
      })
    })
    s.listen(0, "127.0.0.1", () => resume(Effect.succeed({ port: (s.address() as AddressInfo).port, seen, close: () => s.close() })))
  }),
  (s) => Effect.sync(() => s.close())
)

describe("Vers live layer", () => {
  it.live("NodeHttpClient sends the Bearer key and JSON bodies; answers decode", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const s = yield* server
        const layer = Vers.layer({ overrides: { baseUrl: `http://127.0.0.1:${s.port}/api/v1`, apiKey: "live-key" } })
        const [vms, created] = yield* Effect.all([
          Effect.flatMap(VersApi, (api) => api.list()),
          Effect.flatMap(VersApi, (api) => api.createRoot({ labels: { run: "r" } }))
        ]).pipe(Effect.provide(layer))
        expect(vms.map((v) => v.vmId)).toEqual([vmId])
        expect(created).toBe(vmId)
        expect(s.seen.map((r) => r.auth)).toEqual(["Bearer live-key", "Bearer live-key"])
        const post = s.seen.find((r) => r.method === "POST")!
        expect(post.url).toBe("/api/v1/vm/new_root")
        expect(JSON.parse(post.body)).toMatchObject({ vm_config: { labels: { run: "r" } } })
      })
    )
  )
})
