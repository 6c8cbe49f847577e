-- AlterTable
ALTER TABLE "OAuthState" ADD COLUMN     "browserHash" TEXT,
ADD COLUMN     "claimedAt" TIMESTAMP(3),
ADD COLUMN     "providerUrl" TEXT,
ADD COLUMN     "startedById" TEXT,
ADD COLUMN     "startedByKind" TEXT,
ADD COLUMN     "startedViaKey" UUID;

-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "oauthRedirectOrigins" TEXT[] DEFAULT ARRAY[]::TEXT[];
