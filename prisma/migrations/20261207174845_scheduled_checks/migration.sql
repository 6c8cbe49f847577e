-- AlterTable
ALTER TABLE "ConnectionValue" ADD COLUMN     "checkFailures" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "lastCheckAt" TIMESTAMP(3),
ADD COLUMN     "lastCheckMessage" TEXT,
ADD COLUMN     "lastCheckOk" BOOLEAN,
ADD COLUMN     "nextCheckAt" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "ConnectionValue_nextCheckAt_idx" ON "ConnectionValue"("nextCheckAt");
