package api

// SetGroupName makes the tests' sockets use group g instead of vxtap.
func SetGroupName(g string) (restore func()) {
	old := groupName
	groupName = g
	return func() { groupName = old }
}
