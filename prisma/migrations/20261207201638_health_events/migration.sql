-- CreateTable
CREATE TABLE "HealthEvent" (
    "id" BIGSERIAL NOT NULL,
    "orgId" UUID NOT NULL,
    "connectionId" UUID NOT NULL,
    "connectorId" UUID NOT NULL,
    "customerId" UUID,
    "valueId" UUID,
    "slot" TEXT NOT NULL,
    "valueKind" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "fromStatus" "ValueStatus",
    "toStatus" "ValueStatus",
    "ok" BOOLEAN,
    "cause" TEXT NOT NULL,
    "message" TEXT,
    "actorKind" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HealthEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "HealthEvent_orgId_id_idx" ON "HealthEvent"("orgId", "id");

-- CreateIndex
CREATE INDEX "HealthEvent_createdAt_idx" ON "HealthEvent"("createdAt");
