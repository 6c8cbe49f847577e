-- AlterTable
ALTER TABLE "Connection" ADD COLUMN     "proxyOnly" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "Connector" ADD COLUMN     "proxy" JSONB;

-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "allowProxyBaseUrlOverride" BOOLEAN NOT NULL DEFAULT false;
