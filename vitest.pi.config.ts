import { defineConfig } from "vitest/config"

// `npm run test:pi` (scripts/test-pi.mjs): end-to-end tests that drive a real Pi process.
// Kept apart from `vitest.config.ts` because they need Pi and Node 22 from `.cache/pi-e2e/`.
export default defineConfig({
  test: {
    include: ["test/pi-e2e/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default"]
  }
})
