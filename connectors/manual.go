package connectors

// StepParamer is the optional capability of a connector whose steps people
// do by hand (connectors/desk): the parameters a manual step on it gets
// where the policy sets none (the facility, its doors), which the step's
// task shows. The engine asks it when planning; it never sends the step.
type StepParamer interface {
	StepParams(op Operation) map[string]string
}
