import { configDefaults, defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real-Pi end-to-end tests run with `npm run test:pi` (vitest.pi.config.ts).
    exclude: [...configDefaults.exclude, "test/pi-e2e/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"]
  }
})
