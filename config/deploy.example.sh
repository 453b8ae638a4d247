#!/bin/sh
# An example command deployer: Countersign runs it only after the gate passed, with exactly
# the approved digest. Replace it with your rollout (kubectl, helm, argo, ...).
set -eu
echo "deploying ${COUNTERSIGN_SERVICE} to ${COUNTERSIGN_ENVIRONMENT}: ${COUNTERSIGN_ARTIFACT_NAME}@${COUNTERSIGN_ARTIFACT_DIGEST} (commit ${COUNTERSIGN_COMMIT}, deployment ${COUNTERSIGN_DEPLOYMENT_ID})"
