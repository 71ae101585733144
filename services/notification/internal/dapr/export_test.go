package dapr

// Exported for dapr_test, which checks the adapters against them.
const (
	ClaimTTL        = claimTTL
	DeadLetterLimit = deadLetterLimit
)
