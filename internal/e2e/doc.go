// Package e2e holds end-to-end tests of whole departures: a Kinetic built
// from configuration files (internal/testkit) whose connectors are the
// real connector types, pointed at the stateful fakes their packages
// export for tests (connectors/awsiam/iamtest, connectors/salesforce/sftest,
// connectors/scim/scimtest, connectors/graph/graphtest,
// connectors/fortigate/fortigatetest, connectors/globalprotect/globalprotecttest,
// connectors/wireguard/wireguardtest, connectors/brivo/brivotest,
// connectors/verkada/verkadatest, connectors/snipeit/snipeittest,
// connectors/intune/intunetest, connectors/servicenow/servicenowtest) and,
// for mail, the SMTP server of internal/smtptest. It has no code of
// its own; the tests run under plain `go test` (SQLite, in-process Redis)
// and under CI (PostgreSQL and Redis through KINETIC_TEST_*).
package e2e
