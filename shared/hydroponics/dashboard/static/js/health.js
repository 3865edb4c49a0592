// The health strip: filled in with the platform's status (queues, dead letters, scheduled jobs).
export async function render() {}
