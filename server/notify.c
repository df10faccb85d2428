/*
 * notify.c: sd_notify(3) messages for systemd's Type=notify.
 *
 * The variant is chosen once, here: libsystemd's sd_notify when the build
 * found it (RS_HAVE_SYSTEMD, set by server/CMakeLists.txt), nothing
 * otherwise. sd_notify itself does nothing without $NOTIFY_SOCKET.
 */
#include "notify.h"

#include <stdio.h>

#ifdef RS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void notify_send(const char *msg)
{
    (void)sd_notify(0, msg);
}
#else
static void notify_send(const char *msg)
{
    (void)msg;
}
#endif

void notify_ready(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status != NULL ? status : "ready");
    notify_send(msg);
}

void notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=draining and flushing");
}

void notify_status(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "STATUS=%s", status != NULL ? status : "");
    notify_send(msg);
}
