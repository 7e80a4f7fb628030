// Saving files to the user's disk from memory: Blob URLs and a download link, one file at a time.

export function downloadFiles(files) {
  for (const file of files) {
    const url = URL.createObjectURL(new Blob([file.data], { type: file.type }));
    const link = document.createElement("a");
    link.href = url;
    link.download = file.name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}
