// What a tool (tools/cnictl) may use of the flannel plugin; the rest of plugins/flannel
// is its own business and may change without notice. Kept to what a tool reads: the
// config's defaults, its parser and the delegate config it renders (pure, so a tool
// sees the ranges an ADD would use), flanneld's subnet.env as the plugin reads it, and
// the saved delegate configs, read only. test/unit/tools/boundaries.test.ts holds
// tools to this file.
export { DEFAULT_DATA_DIR, buildDelegateConf, parseFlannelConf, type DelegateConf, type FlannelConf } from './delegate';
export { listScratch, readScratch, type ScratchListing } from './scratch';
export { DEFAULT_SUBNET_FILE, readSubnetEnv, type SubnetEnv } from './subnet-env';
