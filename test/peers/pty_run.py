"""Runs a command on a real pseudo-terminal (as a person at a terminal would),
answers one prompt, and prints what the terminal showed and the exit status
as JSON. Usage: pty_run.py PROMPT_REGEX ANSWER_ENV_VAR TIMEOUT_S -- cmd args...
The answer is read from the environment variable, never from argv."""
import json, os, pty, re, select, sys, time

prompt, answer_var, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
cmd = sys.argv[sys.argv.index('--') + 1:]
answer = os.environ[answer_var]
env = dict(os.environ)
del env[answer_var]

pid, fd = pty.fork()
if pid == 0:
    os.execvpe(cmd[0], cmd, env)

out = b''
answered = False
deadline = time.time() + timeout
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not answered and re.search(prompt.encode(), out):
        os.write(fd, answer.encode() + b'\r')
        answered = True
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
print(json.dumps({'output': out.decode('utf8', 'replace'), 'status': os.waitstatus_to_exitcode(status), 'answered': answered}))
