package imgadm

func init() {
	for k, v := range moreUsage {
		commandUsage[k] = v
	}
}

// tableOptions are the options of a command that prints a table, whose
// default columns are cols.
func tableOptions(cols string) string {
	return `    -h, --help        Show this help.
    -j, --json        JSON output.
    -H                Do not print table header row.
    -o FIELD,...      Specify fields (columns) to output. Default is
                      "` + cols + `".
`
}

// sortOption is the -s option of list and avail.
const sortOption = `    -s FIELD,...      Sort on the given fields. Default is "published_at,name".`

var moreUsage = map[string]string{
	"sources": `List and edit image sources.

An image source is a URL to a server implementing the IMGAPI.
The default source is "` + "https://images.smartos.org" + `".

Usage:
    imgadm sources [<options>]

Options:
    -h, --help                Show this help.
    -v, --verbose             Verbose output. List source URL and TYPE.
    -j, --json                List sources as JSON.
    -a <source>               Add a source. It is appended to the list of sources.
    -t <type>, --type <type>  The source type for an added source. One of
                              "imgapi" (the default) or "docker" ("dsapi"
                              sources are not supported).
    -k, --insecure            Allow insecure (no server certificate checking)
                              access to the added HTTPS source URL.
    --add-docker-hub          A shortcut for "imgadm sources -t docker -a https://docker.io".
    -f, --force               Do not ping the source URL to check it is valid.
    -d <source>               Delete a source.
    -e                        Edit sources in an editor.
    -c, --check               Ping check all sources.

Examples:
    # SmartOS primary public image repository (defaults to "imgapi")
    imgadm sources -a https://images.smartos.org
    # a registry speaking the docker distribution API
    imgadm sources -a http://127.0.0.1:5000 -t docker
`,
	"avail": `List available images from all sources.
This is not supported for Docker sources.

Usage:
    imgadm avail [<options>...] [<filters>]

Options:
` + tableOptions("uuid,name,version,os,type,pub") + sortOption + `

Filters and fields: as for "imgadm list".
`,
	"show": `Show the manifest for an available image.

This searches each imgadm source for the given image and prints its
manifest.

Usage:
    imgadm show <uuid|repo[:tag]>

Options:
    -h, --help        Show this help.
`,
	"import": `Import an image from a source IMGAPI.

The image and any missing ancestors (its "origin" chain) are downloaded,
checked against their manifests' size and sha1, and installed.

A docker image, "repo[:tag]" or "repo@digest", comes from the docker
sources (imgadm sources -a URL -t docker): each layer is installed as an
image of type "docker" whose origin is the layer below.

Usage:
    imgadm import [<options>] <uuid|repo[:tag]>

Options:
    -h, --help        Show this help.
    -q, --quiet       Disable progress bar.
    -P <pool>         Name of zpool in which to import the image. Default is "zones".
    -S <url>          URL of the source to use instead of the configured ones
                      (an IMGAPI, or a docker registry for repo[:tag]).
    -C <channel>      The channel to import from. This overrides any channel
                      parameter that may be set in the source url.
`,
	"update": `Update installed images.

For each installed image (or the given ones) found in a source, the local
manifest is replaced by the source's (the fields that changed are named),
and the image's @final snapshot is made if it is missing. An image no
source has is skipped with a warning.

Usage:
    imgadm update [<options>] [<uuid>...]

Options:
    -h, --help        Show this help.
    -n, --dry-run     Do a dry-run (do not actually make changes).
`,
	"ancestry": `List the ancestry (the "origin" chain) for the given incremental image.

Usage:
    imgadm ancestry [<options>] <uuid>

Options:
` + tableOptions("uuid,name,version,published") + `    -P <pool>         Name of zpool in which to look for the image. Default is "zones".
`,
	"vacuum": `Remove unused images -- i.e. not used for any VMs or child images.

Usage:
    imgadm vacuum [<options>]

Options:
    -h, --help        Show this help.
    -n, --dry-run     Do a dry-run (do not actually make changes).
    -f, --force       Skip user confirmation.
`,
	"create": `Create an image from the given VM and manifest data.

There are two basic calling modes: (1) a prepare-image script is
provided (via "-s") to have imgadm automatically run the script inside the
VM before image creation; or (2) the given VM is already "prepared" and
shutdown.

The former snapshots the VM, runs the prepare-image script (as the VM's
operator-script, at its boot), creates the image, and rolls the VM back to
the snapshot (booting it again if it was running). The script must set the
metadata key "prepare-image:state" to "running", then to "success" or
"error" (with "prepare-image:error"), and then halt the zone (halt).

Two files are written: the manifest (PREFIX.imgmanifest) and the image
file (PREFIX.tar, a tar of the VM's root filesystem under root/, with
.gz, .bz2, .xz or .zst added when compressed).
PREFIX is NAME-VERSION in the current directory unless -o says otherwise.

Usage:
    imgadm create [<options>] <vm-uuid> [<manifest-field>=<value> ...]

Options:
    -h, --help        Show this help.
    -m <manifest>     Path to image manifest data (JSON) to use for the new
                      image; "-" reads it from stdin.
    -o <prefix>       Output path prefix, or a directory.
    -c <comp>         File compression: none (default), gzip, bzip2, xz or
                      zstd.
    -i                Build an incremental image (based on the VM's origin image).
    --max-origin-depth <num>
                      Maximum origin depth to allow when creating
                      incremental images. E.g. a value of 3 means that
                      the image will only be created if there are no more
                      than 3 parent images in the origin chain.
    -s <prepare-image-path>
                      Path to a script that is run inside the VM to
                      prepare it for imaging (see above).
    -p <url>          Publish directly to the given image source (IMGAPI);
                      the files are not kept. Not with -o.
    -q, --quiet       Disable progress bar.

Manifest fields given as FIELD=VALUE are parsed as JSON, else taken as a
string (string fields such as "version" are always taken as strings).
"name" and "version" are required.
`,
	"publish": `Publish an image (local manifest and data) to a remote IMGAPI repo.

Typically the local manifest and image file are created with
"imgadm create ...". Note that "imgadm create" supports a
"-p/--publish" option to publish directly in one step. An image whose
upload or activation fails is deleted from the repo again.

Usage:
    imgadm publish [<options>] -m <manifest> -f <file> <imgapi-url>

Options:
    -h, --help        Show this help.
    -m <manifest>     Required. Path to the image manifest to import.
    -f <file>         Required. Path to the image file to import.
    -q, --quiet       Disable progress bar.

Environment:
    IMGADM_TOKEN      The token a hull IMGAPI server asks publishers for.
`,
}
