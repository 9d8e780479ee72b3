import { configDefaults, defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real-Pi end-to-end tests run with `npm run test:pi` (vitest.pi.config.ts).
    exclude: [...configDefaults.exclude, "test/pi-e2e/**"],
    // Hang guards, not speed checks: `npm run test:load` runs this suite with every core
    // saturated, where a test that starts a dozen CLI processes takes minutes.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default"]
  }
})
