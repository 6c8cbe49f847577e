-- Trigram matching for customers(search:) (added by hand: Prisma does not diff extensions).
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- DropIndex
DROP INDEX "ConnectionValue_orgId_customerId_idx";

-- CreateIndex
CREATE INDEX "Connection_orgId_createdAt_idx" ON "Connection"("orgId", "createdAt");

-- CreateIndex
CREATE INDEX "ConnectionValue_orgId_createdAt_idx" ON "ConnectionValue"("orgId", "createdAt");

-- CreateIndex
CREATE INDEX "ConnectionValue_orgId_status_createdAt_idx" ON "ConnectionValue"("orgId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "ConnectionValue_customerId_createdAt_idx" ON "ConnectionValue"("customerId", "createdAt");

-- CreateIndex
CREATE INDEX "Customer_orgId_createdAt_idx" ON "Customer"("orgId", "createdAt");

-- CreateIndex
CREATE INDEX "Customer_name_idx" ON "Customer" USING GIN ("name" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "Customer_externalId_idx" ON "Customer" USING GIN ("externalId" gin_trgm_ops);
