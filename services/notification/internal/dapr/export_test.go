package dapr

// ClaimTTL is exported for dapr_test, which checks the store against it.
const ClaimTTL = claimTTL
