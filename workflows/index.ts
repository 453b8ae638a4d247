// The workflows this worker runs; the bundler starts here.
export { deploymentWorkflow } from './deployment';
