/** A log that keeps every line, so tests can assert what was reported (pino-compatible shape). */
export interface RecordingLog {
  readonly lines: { level: string; msg: string; obj: object }[];
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export function recordingLog(): RecordingLog {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
