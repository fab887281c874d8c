export declare const DEFAULT_CLUSTER: string;
export declare const TESTBED_DIR: string;
export declare function testbedCluster(env?: NodeJS.ProcessEnv): { name: string; suffix: string; kubeconfig: string };
