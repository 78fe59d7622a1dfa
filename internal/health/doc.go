// Package health decides whether the app came up healthy after a restart,
// by asking its /api/health endpoint.
//
// Probe asks once. Gate.Wait asks repeatedly until the app has answered
// 2xx SuccessThreshold times in a row, with the expected version when one
// is set, or until it has answered and said it is unhealthy
// FailureThreshold times in a row, or until the deadline passes, or the
// process is seen to exit (the error then says why, from ExitDetail).
//
// FailureThreshold counts like Kubernetes' failureThreshold, but only
// answers: the gate tells "not answering yet" from "answering:
// unhealthy". Refused connections, resets and timeouts mean the app is
// still starting, and only the deadline ends them; a failing answer (503,
// say) is the app's own verdict, so a few in a row end the wait early and
// the rollback does not wait out the deadline.
//
// Three things make the gate hard to fool:
//   - The version check. Right after a restart, the old process may still
//     hold the port and answer 200; only an answer carrying the new
//     version counts.
//   - No connection reuse and no redirects. Each probe opens a fresh
//     connection, so a kept-alive connection to the old process cannot
//     answer for the new one, and a health URL that redirects (to a login
//     page, say) is a failure rather than the 200 of another page.
//   - Consecutive successes. One good answer from an app that crashes a
//     second later is not enough; any failure resets the count.
//
// The version check is also why an answer with another version is not a
// failing answer until the wait has seen the port change hands (the
// expected version answered, or a connection was refused): before that
// it may be the old process.
//
// Probing starts fast (the first retry after 25 ms, the spacing doubling
// up to Interval), so a healthy app passes within about a tenth of a
// second while a slow one is not hammered. While the connection is
// refused (nothing listens yet) the gate looks again every 10 ms, which
// costs microseconds on loopback, so it notices the app listening within
// about 10 ms however long the app takes to start. After a failing answer the
// next probe waits a full Interval, so an app gets
// (FailureThreshold-1)×Interval to recover from its first failing answer.
package health
