/*
 * notify.h: tell the service manager (systemd, Type=notify) where the
 * server's life stands. Each call is a no-op when the process was not
 * started by systemd (no $NOTIFY_SOCKET) or the build has no libsystemd.
 *
 *   start ──listeners bound──> notify_ready ──SIGTERM──> notify_stopping ──> exit
 */
#ifndef RS_NOTIFY_H
#define RS_NOTIFY_H

/* READY=1 with a STATUS line: call once every listener is bound. */
void notify_ready(const char *status);
/* STOPPING=1: call when a graceful shutdown begins. */
void notify_stopping(void);
/* STATUS=<text> for `systemctl status`. */
void notify_status(const char *status);

#endif /* RS_NOTIFY_H */
