-- CreateIndex
CREATE INDEX "ConnectionValue_expiresAt_idx" ON "ConnectionValue"("expiresAt");
