-- AlterTable
ALTER TABLE "ApiKey" ADD COLUMN     "credentialReads" BOOLEAN NOT NULL DEFAULT false;
