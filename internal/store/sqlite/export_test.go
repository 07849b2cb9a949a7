package sqlite

import "context"

// ForceSchemaVersionForTest records version as applied, as a later release
// of switchhook would.
func (s *Store) ForceSchemaVersionForTest(ctx context.Context, version int) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", version)
	return err
}
