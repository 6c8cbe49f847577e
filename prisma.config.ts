import { defineConfig } from 'prisma/config';

// Only `prisma generate` uses this CLI config: migrations are applied by our
// own runner (src/db/migrate.ts) through the Wasm schema engine.
export default defineConfig({
  schema: 'prisma/schema.prisma',
});
