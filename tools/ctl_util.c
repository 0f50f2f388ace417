/*
 * ctl_util.c — helpers shared by dcf_ctl's commands (see ctl_util.h).
 */
#include "ctl_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
ctl_verror(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "dcf_ctl: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
ctl_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	ctl_verror(fmt, ap);
	va_end(ap);
}

void
ctl_die(int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	ctl_verror(fmt, ap);
	va_end(ap);
	exit(code);
}

void
ctl_info(const char *fmt,...)
{
	va_list		ap;

	printf("dcf_ctl: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void
ctl_bin_path(char *out, size_t cap, const char *prog)
{
	char		self[CTL_PATH_MAX];
	ssize_t		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char	   *slash;

	if (n > 0)
	{
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
		{
			*slash = '\0';
			snprintf(out, cap, "%s/%s", self, prog);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, cap, "%s", prog);
}

int
ctl_run(char *const argv[])
{
	pid_t		pid;
	int			st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
	{
		execvp(argv[0], argv);
		fprintf(stderr, "dcf_ctl: could not run \"%s\": %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
ctl_run_output(char *const argv[], bool capture_stderr, bool echo, char *out, size_t cap)
{
	int			fds[2];
	pid_t		pid;
	ssize_t		n;
	size_t		got = 0;
	int			st;
	char		buf[4096];

	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
	{
		int			devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fds[1], 1);
		if (capture_stderr)
			dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "dcf_ctl: could not run \"%s\": %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
	{
		if (n < 0)
			continue;
		size_t		take = (size_t) n;

		if (echo)
			fwrite(buf, 1, (size_t) n, stderr);
		if (got + take > cap - 1)
			take = cap - 1 - got;
		memcpy(out + got, buf, take);
		got += take;
	}
	close(fds[0]);
	out[got] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool
ctl_run_line(char *const argv[], char *out, size_t cap)
{
	int			rc = ctl_run_output(argv, false, false, out, cap);

	out[strcspn(out, "\n")] = '\0';
	return rc == 0;
}

char *
ctl_slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t) n + 1);
	if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
	{
		buf[n] = '\0';
		if (len)
			*len = (size_t) n;
	}
	return buf;
}

bool
ctl_fsync_dir(const char *dir)
{
	int			fd = open(dir, O_RDONLY);
	bool		ok;

	if (fd < 0)
		return false;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

bool
ctl_fsync_parent(const char *path)
{
	char		dir[CTL_PATH_MAX];
	char	   *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return ctl_fsync_dir(".");
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return ctl_fsync_dir(dir);
}

bool
ctl_write_durable(const char *path, const void *buf, size_t len, unsigned mode)
{
	char		tmp[CTL_PATH_MAX + 16];
	int			fd;
	const char *p = buf;
	size_t		left = len;

	snprintf(tmp, sizeof(tmp), "%s.dcf_tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return false;
	while (left > 0)
	{
		ssize_t		n = write(fd, p, left);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			close(fd);
			unlink(tmp);
			return false;
		}
		p += n;
		left -= (size_t) n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
	{
		close(fd);
		unlink(tmp);
		return false;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
	{
		unlink(tmp);
		return false;
	}
	return ctl_fsync_parent(path);
}

void
ctl_remove_dir(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char		path[CTL_PATH_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

char *
ctl_marker_value(const char *text, const char *key)
{
	size_t		kl = strlen(key);
	const char *p = text;

	while (p && *p)
	{
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
		{
			const char *v = p + kl + 1;
			size_t		n = strcspn(v, "\n");
			char	   *out = malloc(n + 1);

			if (out == NULL)
				return NULL;
			memcpy(out, v, n);
			out[n] = '\0';
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

bool
ctl_parse_lsn(const char *s, uint64_t *lsn)
{
	unsigned int hi,
				lo;

	if (sscanf(s, "%X/%X", &hi, &lo) != 2)
		return false;
	*lsn = ((uint64_t) hi << 32) | lo;
	return true;
}

bool
ctl_pid_alive(pid_t pid)
{
	char		path[64];
	FILE	   *f;
	char		state = '?';

	if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
		return false;
	/* a killed process not yet reaped by its parent is not alive */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "r");
	if (f)
	{
		if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
			state = '?';
		fclose(f);
	}
	return state != 'Z' && state != 'X';
}

pid_t
ctl_server_pid(const char *datadir, char *status, size_t cap)
{
	char		path[CTL_PATH_MAX];
	char		line[256];
	FILE	   *f;
	long		pid = 0;
	int			n = 0;

	if (status)
		status[0] = '\0';
	snprintf(path, sizeof(path), "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
	{
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		if (n == 1)
			pid = strtol(line, NULL, 10);
		if (n == 8 && status)
			snprintf(status, cap, "%s", line);
	}
	fclose(f);
	return pid > 0 && ctl_pid_alive((pid_t) pid) ? (pid_t) pid : 0;
}

bool
ctl_server_running(const char *datadir, char *status, size_t cap)
{
	return ctl_server_pid(datadir, status, cap) != 0;
}

bool
ctl_setting(const char *datadir, const char *name, char *out, size_t cap)
{
	char		postgres[CTL_PATH_MAX];
	char	   *argv[] = {postgres, "-D", (char *) datadir, "-C", (char *) name, NULL};

	ctl_bin_path(postgres, sizeof(postgres), "postgres");
	return ctl_run_line(argv, out, cap);
}

bool
ctl_data_path(const char *datadir, char *out, size_t cap)
{
	char		val[CTL_PATH_MAX];

	if (!ctl_setting(datadir, "dcf.data_path", val, sizeof(val)) || val[0] == '\0')
		return false;
	if (val[0] == '/')
		snprintf(out, cap, "%s", val);
	else
		snprintf(out, cap, "%s/%s", datadir, val);
	return true;
}

bool
ctl_controldata(const char *datadir, const char *label, char *out, size_t cap)
{
	char		prog[CTL_PATH_MAX];
	char	   *argv[] = {prog, "-D", (char *) datadir, NULL};
	char	   *buf = malloc(65536);
	char	   *p;
	size_t		ll = strlen(label);
	bool		found = false;

	if (buf == NULL)
		return false;
	ctl_bin_path(prog, sizeof(prog), "pg_controldata");
	if (ctl_run_output(argv, false, false, buf, 65536) == 0)
	{
		for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		{
			if (strncmp(p, label, ll) == 0 && p[ll] == ':')
			{
				const char *v = p + ll + 1;

				while (*v == ' ')
					v++;
				snprintf(out, cap, "%.*s", (int) strcspn(v, "\n"), v);
				found = true;
				break;
			}
		}
	}
	free(buf);
	return found;
}

bool
ctl_inject_is(const char *point, const char *action)
{
	const char *spec = getenv("DCF_CTL_INJECT");
	size_t		pl = strlen(point);

	return spec != NULL && strncmp(spec, point, pl) == 0 && spec[pl] == ':' &&
		strcmp(spec + pl + 1, action) == 0;
}

void
ctl_inject(const char *point)
{
	const char *spec = getenv("DCF_CTL_INJECT");
	size_t		pl = strlen(point);

	if (spec == NULL || strncmp(spec, point, pl) != 0 || spec[pl] != ':')
		return;
	if (strcmp(spec + pl + 1, "kill") == 0)
	{
		fprintf(stderr, "dcf_ctl: DCF_CTL_INJECT: killed at %s\n", point);
		fflush(stderr);
		kill(getpid(), SIGKILL);
	}
}
