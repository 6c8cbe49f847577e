export { ConnectionRef, ConnectorRef, ConnectionValueRef } from '../connections/types.js';
