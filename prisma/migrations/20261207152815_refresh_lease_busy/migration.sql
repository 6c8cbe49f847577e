-- AlterTable
ALTER TABLE "ValueRefreshLease" ADD COLUMN     "busy" BOOLEAN NOT NULL DEFAULT false;
