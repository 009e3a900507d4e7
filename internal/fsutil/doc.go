// Package fsutil is the one durability primitive of Passerelle: writing a
// file so that after a crash it is either absent, or whole with its
// directory entry on disk.
//
// The rules every function here keeps (POSIX rename(2), link(2), fsync(2);
// on Linux a new or renamed entry is durable only once its own directory is
// fsynced):
//   - data is fsynced before the name that makes it visible is created;
//   - a temporary file lives in the same directory as its target, so the
//     rename or link stays inside one directory and one file system;
//   - after a rename or link the target's own directory is fsynced (not a
//     parent: the bug this package replaced synced keys.dir for a file in
//     keys.dir/puppets).
//
// Every step goes through [FS], so tests inject a fault at each one.
package fsutil
