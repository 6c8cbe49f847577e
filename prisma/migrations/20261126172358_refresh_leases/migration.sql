-- CreateTable
CREATE TABLE "ValueRefreshLease" (
    "valueId" UUID NOT NULL,
    "until" TIMESTAMP(3) NOT NULL,
    "failures" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "ValueRefreshLease_pkey" PRIMARY KEY ("valueId")
);
