// What a tool (tools/cnictl) may use of the bridge plugin; the rest of plugins/bridge is
// its own business and may change without notice. Kept to what a tool reads: the
// default the config falls back to, and the record of the gateways a network set
// (beside its host-local reservations), read only. test/unit/tools/boundaries.test.ts
// holds tools to this file.
export { DEFAULT_BRIDGE } from './config';
export { GATEWAY_RECORD_FILE, provenBy, readGatewayRecords, type GatewayRecord } from './gateway';
